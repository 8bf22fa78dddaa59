"""courier: a project's transactional email, delivered through the project's own SMTP server.

The library behind the bundle's Lambda functions. Each module owns one idea: :mod:`.uri` (the
connection URI and its security mode), :mod:`.transport` (an SMTP session in that mode) and
:mod:`.errors` (what can go wrong, by field and by SMTP step).
"""

from courier.errors import ConfigError, CourierError, MessageError, SmtpError, Step
from courier.transport import Transport
from courier.uri import ConnectionUri, Security

__all__ = [
    "ConfigError",
    "ConnectionUri",
    "CourierError",
    "MessageError",
    "Security",
    "SmtpError",
    "Step",
    "Transport",
]
