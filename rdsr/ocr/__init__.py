"""Bitmap dose screens: recognising them, and reading their values with tesseract."""
