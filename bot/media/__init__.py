"""Media: the member's image (checked, fitted) and the result video (downloaded safely)."""
