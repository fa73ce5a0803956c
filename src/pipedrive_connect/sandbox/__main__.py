"""``python -m pipedrive_connect.sandbox --port 8765 --token T``."""

import argparse
import sys

from . import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m pipedrive_connect.sandbox", description=__doc__)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
