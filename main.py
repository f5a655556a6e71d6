"""Launch the DeepSDF Explorer GUI on the embedded default model (or a model given as argument)."""
import sys


def main() -> int:
    from app.main_window import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
