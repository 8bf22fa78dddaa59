"""Running courier on one machine without Docker or AWS (docs/design.md §7).

``python -m local`` (:mod:`local.cli`) has ``invoke``, ``up``, ``send``, ``messages`` and
``demo``. The parts:

- :mod:`local.template` resolves a function of ``template.yaml`` with the SAM CLI's providers;
  :mod:`local.invoke` runs it in a child process (:mod:`local._runtime`), as
  ``sam local invoke`` runs it in a container.
- :mod:`local.aws` (moto's server) and :mod:`local.stack` (the template's queues and table) are
  the embedded AWS; :mod:`local.projects` writes the demo projects to SSM.
- :mod:`local.smtpd` and :mod:`local.mailservers` are the SMTP servers, one per security mode
  and one per token login (with :mod:`local.token_endpoint`, the OAuth 2.0 token endpoint their
  tokens come from); :mod:`local.mailbox` keeps what they accept as ``.eml`` files with an
  HTML preview.
- :mod:`local.poller` plays the SQS event source mapping; :mod:`local.sqs` shapes its events.
- :mod:`local.sandbox` puts it all together; :mod:`local.up` and :mod:`local.demo` (with
  :mod:`local.summary` and its page, :mod:`local.demo_page`; :mod:`local.render` renders the
  subjects of mail that never arrived) are the long-running stack and ``make demo``.
- :mod:`local.status_reader` reads the message status records with the config validator's own
  code (in a child process with its environment); :mod:`local.messages` is ``python -m local
  messages`` and :mod:`local.demo_status` the demo's check of them.
- :mod:`local.sam_env` is the ``--env-vars`` file ``up`` writes for the real ``sam local
  invoke``.
"""
