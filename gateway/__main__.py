"""`python -m gateway` is `ekai`."""

from gateway.cli import main

raise SystemExit(main())
