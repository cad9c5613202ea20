"""``python -m manganinja`` (also under ``accelerate launch -m manganinja``)."""

from manganinja.cli import main

if __name__ == "__main__":
    main()
