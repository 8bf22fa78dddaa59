"""``python -m local``: the bundle on one machine, without Docker or AWS.

``invoke``
    ``sam local invoke``'s flags and output: the handler's JSON result on stdout, the function's
    log on stderr, exit status 1 when the invocation failed (``sam local invoke`` itself exits 0
    then). It uses a running ``up`` when there is one, or else starts the local stack for this
    one invoke.
``up``
    Starts everything (:mod:`local.up`) until Ctrl-C.  ``--verbose`` adds the SMTP servers'
    tracebacks (a TLS handshake a client gave up on) and each failed invocation's whole log.
``send``
    Puts a message on the queue of the running ``up``.
``messages``
    The status records of the running ``up`` (:mod:`local.messages`), read by the config
    validator's own code for ``GET /projects/{project_id}/courier/messages``: a table, or with
    ``--id`` one message and its dispatches.
``demo``
    Runs :mod:`local.demo` and prints its summary, then its messages' status records; exit
    status 1 unless every message reached its documented outcome and its record says so.
    ``--verbose`` as for ``up``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.invoke import InvokeResult, invoke
from local.mailbox import Mailbox
from local.mailservers import MODES, TOKEN_LOGINS
from local.sandbox import LOCAL_OVERRIDES, SENDER, LocalStack, Session, find_session
from local.template import (
    TemplateError,
    default_template,
    function_ids,
    load_env_vars,
    parse_parameter_overrides,
    resolve_function,
)

__all__ = ["main"]

WORKDIR = Path("out/local")
SEED_FILE = "ssm.seed.json"
"""SSM parameters the events of a folder expect; loaded into a stack started for an invoke."""
STACK_SERVERS = f"{len(MODES) + len(TOKEN_LOGINS)} SMTP servers, a token endpoint"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    # aiosmtpd's AUTH code warns about its own deprecated attribute (mail.log, and warnings).
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosmtpd")
    args = _parser().parse_args(argv)
    quiet_servers(verbose=getattr(args, "verbose", False))
    try:
        status: int = args.run(args)
    except TemplateError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


def quiet_servers(*, verbose: bool) -> None:
    """Keep the SMTP servers' log (aiosmtpd's ``mail.log``) off the console unless ``verbose``.

    A client that rejects a server's certificate makes aiosmtpd log a traceback of some 25
    lines; the sender's own outcome line already says what failed and how to fix it.

    Parameters
    ----------
    verbose:
        Show the servers' errors with their tracebacks (on stderr).
    """
    logging.getLogger("mail.log").setLevel(logging.WARNING if verbose else logging.CRITICAL + 1)


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also the SMTP servers' tracebacks and each failed invocation's whole log",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local", description="courier on one machine, without Docker or AWS"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    invoke = commands.add_parser("invoke", help="invoke a function once, as sam local invoke")
    invoke.add_argument("function", nargs="?", help="logical ID (optional with one function)")
    invoke.add_argument("-e", "--event", help="event file ('-' for stdin; default {})")
    _template_options(invoke)
    invoke.set_defaults(run=_invoke)

    up = commands.add_parser("up", help="start the local stack until Ctrl-C")
    _template_options(up)
    up.add_argument(
        "--retry-backoff",
        type=int,
        metavar="SECONDS",
        help="the sender's first retry delay (COURIER_RETRY_BACKOFF_BASE_SECONDS; default 30)",
    )
    _verbose_option(up)
    up.set_defaults(run=_up)

    send = commands.add_parser("send", help="put a message on the queue of a running up")
    send.add_argument("body", help="the message (JSON), or '-' for stdin")
    send.add_argument("--workdir", type=Path, default=WORKDIR, help=argparse.SUPPRESS)
    send.set_defaults(run=_send)

    messages = commands.add_parser(
        "messages",
        help="the status records of the running up (as GET .../courier/messages gives them)",
        description="The message status records of the running `python -m local up`, read "
        "through the config validator's code for GET /projects/{project_id}/courier/messages "
        "(and .../messages/{id} with --id).",
    )
    messages.add_argument("--project", help="one project (default: every project with records)")
    messages.add_argument("--recipient", help="only messages to this address (case ignored)")
    messages.add_argument(
        "--status",
        help="only this status: processing, retrying, delivered, dead_lettered, maybe_delivered",
    )
    messages.add_argument("--template-type", help="only this template type")
    messages.add_argument("--id", help="one message, with its dispatches")
    messages.add_argument(
        "--limit", type=_positive, default=50, help="the most messages listed (50)"
    )
    messages.add_argument("--json", action="store_true", help="the routes' JSON bodies")
    messages.add_argument(
        "-t", "--template", type=Path, help="default: .aws-sam/build/template.yaml if built"
    )
    messages.add_argument("--workdir", type=Path, default=WORKDIR, help=argparse.SUPPRESS)
    messages.set_defaults(run=_messages)

    demo = commands.add_parser("demo", help="run the demo and print its summary")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="mail folder")
    demo.add_argument("-t", "--template", type=Path, default=Path("template.yaml"))
    demo.add_argument("--retry-backoff", type=int, default=1, metavar="SECONDS")
    demo.add_argument("--deadline", type=float, default=60, metavar="SECONDS")
    _verbose_option(demo)
    demo.set_defaults(run=_demo)
    return parser


def _template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-t", "--template", type=Path, help="default: .aws-sam/build/template.yaml if built"
    )
    parser.add_argument("-n", "--env-vars", type=Path, help="JSON file of variable overrides")
    parser.add_argument(
        "--parameter-overrides",
        action="append",
        default=[],
        metavar="'K=V [K=V ...]'",
        help="template parameters, in SAM's syntax (repeatable)",
    )
    parser.add_argument("--region", default="us-east-1", help="the functions' AWS_REGION")
    parser.add_argument(
        "--workdir", type=Path, default=WORKDIR, help="where up keeps its session and mail"
    )


def _template(args: argparse.Namespace) -> Path:
    template: Path = args.template or default_template(Path.cwd())
    if args.template is None and template.parent.name == "build":
        print(
            f"Using the built template {template} (-t template.yaml for the sources)",
            file=sys.stderr,
        )
    return template


def _invoke(args: argparse.Namespace) -> int:
    template = _template(args)
    overrides = {**LOCAL_OVERRIDES, **parse_parameter_overrides(args.parameter_overrides)}
    function = _function(template, overrides, args.function)
    options = {
        "parameter_overrides": overrides,
        "env_vars": load_env_vars(args.env_vars),
        "region": args.region,
    }
    event = _read_event(args.event)
    session = find_session(args.workdir / "session.json")
    if session is not None:
        result, notes = _invoke_in_up(session, template, function, event, **options)
    else:
        result, notes = _invoke_alone(template, function, event, args.event, **options)
    for note in notes:
        print(note, file=sys.stderr)
    sys.stdout.write(result.output + "\n")
    return result.exit_code


def _invoke_in_up(
    session: Session, template: Path, function: str, event: str, **options: Any
) -> tuple[InvokeResult, list[str]]:
    """Invoke against the AWS and SMTP servers of a running ``up``."""
    print(f"Using the local stack of `up` at {session.endpoint_url}", file=sys.stderr)
    spec = resolve_function(template, function, resource_values=session.resource_values, **options)
    _announce(spec.handler, spec.runtime, spec.ignored_overrides)
    result = invoke(spec, event, extra_env=session.child_environment(), capture_logs=False)
    return result, [f"mail goes to {session.mail_dir}"]


def _invoke_alone(
    template: Path, function: str, event: str, event_path: str | None, **options: Any
) -> tuple[InvokeResult, list[str]]:
    """Start a local stack for this one invoke; keep its mail in ``out/invoke``."""
    mailbox = Mailbox(Path("out/invoke"))
    mailbox.clear()
    with (
        tempfile.TemporaryDirectory(prefix="courier-invoke-") as workdir,
        LocalStack(workdir=Path(workdir), template=template, mailbox=mailbox, **options) as stack,
    ):
        print(
            f"Started a local stack for this invoke (moto, {STACK_SERVERS}, demo projects)",
            file=sys.stderr,
        )
        seed = Path(event_path or "-").parent / SEED_FILE
        if event_path not in (None, "-") and seed.is_file():
            stack.seed_parameters(seed)
            print(f"Seeded SSM from {seed}", file=sys.stderr)
        spec = stack.function(function)
        _announce(spec.handler, spec.runtime, spec.ignored_overrides)
        result = stack.invoke(function, event, capture_logs=False)
        codes = [dead.get("courier.error_code", "?") for dead in stack.dead_letters()]
    notes = []
    if mailbox.saved or function == SENDER:
        notes.append(f"mail delivered: {', '.join(map(str, mailbox.saved)) or 'none'}")
    if codes or function == SENDER:
        notes.append(f"dead-letter queue: {', '.join(codes) or 'empty'}")
    return result, notes


def _announce(handler: str, runtime: str, ignored: Sequence[str]) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"Invoking {handler} ({runtime}, run by the local Python {version})", file=sys.stderr)
    for name in ignored:
        print(
            f"Ignored --env-vars {name}: not in the function's Environment (as SAM does)",
            file=sys.stderr,
        )


def _function(template: Path, overrides: dict[str, str], name: str | None) -> str:
    """The function to invoke: ``name``, or the template's only one (checked before any start)."""
    functions = function_ids(template, parameter_overrides=overrides)
    if name is None and len(functions) != 1:
        raise TemplateError(
            f"{template.name} has {len(functions)} functions: name one ({', '.join(functions)})"
        )
    name = name or functions[0]
    if name not in functions:
        raise TemplateError(f"Function {name} not found in template ({', '.join(functions)})")
    return name


def _read_event(path: str | None) -> str:
    if path is None:
        return "{}"
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read the event {path}: {exc}") from exc


def _up(args: argparse.Namespace) -> int:
    from local.up import run_up

    return run_up(
        template=_template(args),
        parameter_overrides=parse_parameter_overrides(args.parameter_overrides),
        env_vars=load_env_vars(args.env_vars),
        workdir=args.workdir,
        region=args.region,
        retry_backoff=args.retry_backoff,
        verbose=args.verbose,
    )


def _send(args: argparse.Namespace) -> int:
    from local.aws import endpoint_client

    session = find_session(args.workdir / "session.json")
    if session is None:
        raise TemplateError("no local stack is up: start one with `python -m local up`")
    body = sys.stdin.read() if args.body == "-" else args.body
    sqs = endpoint_client("sqs", endpoint_url=session.endpoint_url, region=session.region)
    queue_url = session.resource_values["CourierQueue"]["Ref"]
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
    print(message_id)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number from 1: {text!r}")
    return int(text)


def _messages(args: argparse.Namespace) -> int:
    from local.messages import (
        MessagesError,
        MessagesQuery,
        find_message,
        json_text,
        list_messages,
        message_lines,
        message_table,
    )
    from local.status_reader import VALIDATOR, StatusReader, StatusReaderError

    session = find_session(args.workdir / "session.json")
    if session is None:
        raise TemplateError(
            "no local stack is up: start one with `python -m local up` (or `make up`), "
            "send a message, then ask again"
        )
    if "MessageStatusTable" not in session.resource_values:
        raise TemplateError("the running up has no status table: restart it with this checkout")
    spec = resolve_function(
        _template(args),
        VALIDATOR,
        parameter_overrides=LOCAL_OVERRIDES,
        resource_values=session.resource_values,
        region=session.region,
    )
    query = MessagesQuery(
        project=args.project,
        recipient=args.recipient,
        status=args.status,
        template_type=args.template_type,
        limit=args.limit,
    )
    try:
        with StatusReader(spec, extra_env=session.child_environment()) as reader:
            if args.id is not None:
                found = find_message(reader, args.id, args.project)
                if args.json:
                    print(json_text(found[0] if len(found) == 1 else found))
                else:
                    print("\n\n".join("\n".join(message_lines(message)) for message in found))
                return 0
            listed, more = list_messages(reader, query)
    except (MessagesError, StatusReaderError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json_text({"messages": listed}))
        return 0
    if not listed:
        print("no messages" + (" match" if query != MessagesQuery(limit=query.limit) else " yet"))
        return 0
    print("\n".join(message_table(listed)))
    if more:
        print(f"(the {len(listed)} newest; --limit for more)")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from local.demo import format_summary, run_demo

    print(
        f"courier demo: starting moto, {STACK_SERVERS} and the event source mapping ...",
        file=sys.stderr,
    )
    result = run_demo(
        out_dir=args.out,
        template=args.template,
        backoff_seconds=args.retry_backoff,
        deadline_seconds=args.deadline,
        verbose=args.verbose,
    )
    print(format_summary(result))
    return 0 if result.ok else 1
