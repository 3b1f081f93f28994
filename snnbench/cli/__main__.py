"""`python -m snnbench.cli ...` runs the `snnbench` command."""
from . import main

if __name__ == "__main__":
    main(prog_name="snnbench")
