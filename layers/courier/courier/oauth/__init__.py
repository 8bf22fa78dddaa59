"""Token login's tokens: the settings in ``{prefix}/P/smtp/oauth2``, and the tokens they give.

A connection URI with ``?auth=xoauth2`` or ``?auth=oauthbearer`` logs in as the mailbox that is
its user (``smtps://sender%40acme.example@smtp.office365.com/?auth=xoauth2``) with an OAuth 2.0
access token instead of a password. The token comes from the token endpoint that the project's
SecureString ``{prefix}/P/smtp/oauth2`` names, read in the same ``GetParameters`` call as the
URI. It holds one JSON object, in one of two shapes.

**A client id and secret** (the client credentials grant, RFC 6749 §4.4: Microsoft 365, and
most other providers)::

    {"grant": "client_credentials",
     "token_url": "https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token",
     "client_id": "<Application (client) ID>",
     "client_secret": "<the client secret's Value>",
     "scope": "https://outlook.office365.com/.default"}

All five keys are required. ``token_url`` is ``https://`` on a public host (unless the stack's
``AllowPrivateSmtpHosts``); courier posts ``grant_type=client_credentials``, ``client_id``,
``client_secret`` and ``scope``, form-encoded.

**A Google service account with domain-wide delegation** (the JWT bearer grant, RFC 7523)::

    {"grant": "service_account",
     "service_account_key": {"type": "service_account", "client_email": "…", "private_key":
                             "-----BEGIN PRIVATE KEY-----\\n…", "token_uri":
                             "https://oauth2.googleapis.com/token", …},
     "scope": "https://mail.google.com/"}

``service_account_key`` is the key file Google's console downloads, pasted as it is (an object,
not a string; keys courier has no use for are ignored); it must hold an unencrypted RSA private
key of at least 2048 bits. ``scope`` is optional (``https://mail.google.com/``). courier signs
a JWT (RS256) with ``iss`` the key's ``client_email``, ``sub`` the mailbox (the URI's user, so
the token sends as it), the scope, ``aud`` the key's ``token_uri``, and one hour from ``iat`` to
``exp``, and posts it as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``.

Any other key is refused with what to do (:func:`check_settings`, used by
:mod:`courier.config_rules`); no message quotes a value of the parameter.

:class:`Tokens` is the process-wide cache of the tokens (:mod:`courier.oauth.tokens`), and
:mod:`courier.oauth.refusals` what an endpoint's failure means. PyJWT and ``cryptography`` are
imported only by a service account's settings.

Example
-------
>>> found = check_settings(
...     '{"grant": "client_credentials", "token_url": "https://login.example.com/token", '
...     '"client_id": "app", "client_secret": "s3cret-value", "scope": "smtp"}',
...     parameter="/courier/acme/smtp/oauth2", allow_private_hosts=False)
>>> found.settings
ClientCredentials(token_url='https://login.example.com/token', client_id='app', scope='smtp', \
parameter='/courier/acme/smtp/oauth2')
"""

from courier.oauth.settings import (
    DEFAULT_GOOGLE_SCOPE,
    ClientCredentials,
    OAuthSettings,
    ServiceAccount,
    SettingsCheck,
    check_settings,
)
from courier.oauth.tokens import Tokens, TokenSource

__all__ = [
    "DEFAULT_GOOGLE_SCOPE",
    "ClientCredentials",
    "OAuthSettings",
    "ServiceAccount",
    "SettingsCheck",
    "TokenSource",
    "Tokens",
    "check_settings",
]
