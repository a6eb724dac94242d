from glue.cli import main

raise SystemExit(main())
