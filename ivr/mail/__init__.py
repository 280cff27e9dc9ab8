"""E-mail for OzML's ``<SendEmail>``: a durable outbox sent through one SMTP relay."""

from ivr.mail.outbox import MailOutbox
from ivr.mail.settings import EmailSettings

__all__ = ["MailOutbox", "EmailSettings"]
