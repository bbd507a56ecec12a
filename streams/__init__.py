"""ordertriage: a streaming classifier for sales orders (layout in docs/architecture.md)."""
