"""ordertriage notify: delivery of notifications to people (docs/notify.md)."""
