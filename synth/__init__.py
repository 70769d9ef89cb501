"""Offline synthesis: run the Pulumi program under mocks and write a reviewable plan.

`python -m synth STACK [--out DIR] [--diff OTHER_DIR]` (see `synth/__main__.py`).
"""
