from glue_tools.cli import main

raise SystemExit(main())
