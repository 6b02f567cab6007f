"""The firmware catalog: uploaded images, their image format and their validation."""
