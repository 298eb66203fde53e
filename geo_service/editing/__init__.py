"""Editing layers through the API: validated like the loader, versioned, audited."""
