from tokenshift.cli import main

raise SystemExit(main())
