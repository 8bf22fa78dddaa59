"""courier: a project's transactional email, delivered through the project's own SMTP server.

The library behind the bundle's Lambda functions. Each module owns one idea:

- :mod:`.stack`: the stack's settings, read from the environment once;
- :mod:`.uri` and :mod:`.ports`: the connection URI, the security mode it names, the ports;
- :mod:`.transport`, :mod:`.tls` and :mod:`.network`: an SMTP session in that mode, its TLS
  policy and client certificate, and the SSRF guard; :mod:`.transactions`: mails carried over
  an open session, one round trip each with PIPELINING; :mod:`.sasl` and :mod:`.oauth` (a
  package): token login's SASL messages, and its tokens from the provider's endpoint;
  :mod:`.https_fetch`: the one https client (token endpoints, ``https://`` templates);
  :mod:`.smtp_client`: ``smtplib`` with every read and write bounded by a :mod:`.deadline`;
- :mod:`.message` and :mod:`.headers`: the SQS message in, the MIME mail out, and the rules of
  its headers; :mod:`.message_validator`: the message schema's validator, generated from it;
- :mod:`.template_data`, :mod:`.templates`, :mod:`.sandbox`, :mod:`.go_template` (a package:
  the converter and the sandbox it runs in) and :mod:`.remote_templates`: Kratos's template
  types and their data, rendering in a sandbox, Kratos's Go templates converted, ``https://``
  templates fetched;
- :mod:`.config_rules`: the one definition of a valid configuration; :mod:`.config`,
  :mod:`.ssm`, :mod:`.bundle` and :mod:`.config_provider`: a project's settings, read from SSM
  (and the bundle) and cached;
- :mod:`.delivery`, :mod:`.sessions`, :mod:`.outcomes` and :mod:`.sender`: a message made a
  mail, a batch's sessions (every project's side by side), the one decision of where each
  message ends, and the SQS handler's work; :mod:`.settlement`: a failed message's decision
  carried out (the DLQ with its cause, or SQS with a backoff); :mod:`.once`: at most one delivery
  per idempotency key; :mod:`.dead_letters`: what a DLQ message says; :mod:`.delivery_log`:
  what a later receive of a message must know; :mod:`.observability`: logs, metrics and
  tracing; :mod:`.sqs_record`: a record of the SQS event;
- :mod:`.status`, :mod:`.status_table` and :mod:`.status_api`: each message's status record,
  the sender's batched writes of it, and the routes that read it;
- :mod:`.aws_session`: the functions' boto3 session, whose botocore knows only the calls
  courier makes (``aws_data``, generated from botocore's data), and their clients, each made on
  first use (:mod:`.lazy`: made once, whichever thread asks first);
- :mod:`.validation`: the config validator;
- :mod:`.errors`: what can go wrong, by field and by SMTP step.

Only the small core is imported here; the rest is imported where it is used, which keeps a
function's cold start to what it needs.
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
