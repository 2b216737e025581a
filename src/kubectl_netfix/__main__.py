from kubectl_netfix.cli import main

raise SystemExit(main())
