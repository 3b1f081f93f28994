"""`python -m snnbench ...` runs the `snnbench` command."""
from .cli import main

if __name__ == "__main__":
    main(prog_name="snnbench")
