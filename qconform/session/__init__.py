"""One qconform run inside pytest: its hooks (``hooks``), how checks spread over targets and devices
(``collection``), isolation of crashes and hangs, hypothesis profiles, and what failures carry."""
