"""Encodings, one module per encoding (issue 30, item 8): the multi-track `remi_plus` lives here first.

`pitch`, `rhythm` and `remi` still live in jukebox/encoding.py and jukebox/bars.py, which the rest of the project
imports; they move here, one module each, when nothing else is editing their callers.
"""
