"""Pages for people: the front door (`/`), the operator console (`/dashboard`) and the kiosk demo
page (`/kiosk`). Server-rendered Jinja2 shells with plain JavaScript modules that call the same
JSON API and `/cable` as any client; no build step, nothing fetched from elsewhere."""
