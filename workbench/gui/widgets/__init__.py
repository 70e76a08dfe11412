"""Small shared widgets of the desktop app."""
