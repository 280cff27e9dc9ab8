"""Process roles of ``ivr serve``: HTTP workers, the SMS core and voice, under a supervisor.

See docs/operations.md ("Process model") and design.md ("Processes").
"""

from ivr.roles.roles import DRAIN_ORDER, ROLE_NAMES, HttpRole, Role, SmsRole, VoiceRole
from ivr.roles.supervisor import RoleSpec, Supervisor

__all__ = ["DRAIN_ORDER", "ROLE_NAMES", "HttpRole", "Role", "SmsRole", "VoiceRole", "RoleSpec",
           "Supervisor"]
