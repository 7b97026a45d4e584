"""`python -m gantrain ...` is the same as the `gantrain` command."""

from gantrain.app.entry import main

if __name__ == "__main__":
    main()
