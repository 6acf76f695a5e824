"""The staff console in the browser, under ``/console`` of the bot's web app.

Server-rendered pages (Jinja2, plain forms, a little shipped JavaScript, no CDN) on the same
use cases as the chat desk (``bot.decisions``), so a decision taken here is stored, recorded
and told to the worker or heir exactly as one typed in the chat. Sign-in is by a one-time
link sent to the staff member's chat; every request checks the session, the role
(``bot.roles``) and, for a change, the form's CSRF token.
"""

from handlers.staff_console.app import ConsoleDeps, console_routes

__all__ = ["ConsoleDeps", "console_routes"]
