"""HTTP and WebSocket endpoints, one router per concern."""
