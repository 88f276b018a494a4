"""Commands that belong to no single layer (they combine the model and the adaptation methods).

Each module defines `add_arguments(parser)` and `main(args) -> int` for `tracktune.cli`.
"""
