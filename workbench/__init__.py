"""Workbench: train image classifiers from a folder of images, in a desktop app or the terminal."""
__version__ = "0.1.0"
