"""GitHub-style webhooks → ``webhook.received`` with the common fields filled in.

GitHub activity is not chat, so every delivery stays ``webhook.received`` (the ``X-GitHub-Event``
name travels with the stored event), but the data is still useful for routing:

* sender: ``sender`` (numeric id, ``login`` as name, ``type == "Bot"`` → bot);
* conversation: ``owner/repo#N`` as a ``thread`` for issues, pull requests and discussions, or
  the repository as a ``channel`` (push, release, …);
* text / message id: the comment (or review) body and id, when there is one;
* occurred_at: the comment, review, issue or pull request update time, or the head commit time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    EventData,
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    as_id,
    as_mapping,
    as_text,
    first_id,
    make_conversation,
    make_sender,
    parse_timestamp,
    webhook_received,
)

_THREAD_KEYS: Final = ("issue", "pull_request", "discussion")


class GitHubNormaliser(PayloadNormaliser):
    provider = "github"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        user = as_mapping(payload.get("sender"))
        login = as_text(user.get("login"))
        sender_id = first_id(user.get("id"), login)
        repository = as_id(as_mapping(payload.get("repository")).get("full_name"))
        number = first_id(*(as_mapping(payload.get(key)).get("number") for key in _THREAD_KEYS))
        if repository is not None and number is not None:
            conversation = make_conversation(f"{repository}#{number}", "thread")
        else:
            conversation = make_conversation(repository, "channel")

        comment = as_mapping(payload.get("comment"))
        review = as_mapping(payload.get("review"))
        note = comment or review
        app = as_mapping(note.get("performed_via_github_app"))
        times = (
            comment.get("updated_at"),
            review.get("submitted_at"),
            *(as_mapping(payload.get(key)).get("updated_at") for key in _THREAD_KEYS),
            as_mapping(payload.get("head_commit")).get("timestamp"),
        )
        occurred_at = next(filter(None, map(parse_timestamp, times)), None)
        return webhook_received(
            occurred_at,
            EventData(
                conversation=conversation,
                sender=make_sender(sender_id, login, is_bot=user.get("type") == "Bot"),
                text=as_text(note.get("body")),
                message_id=as_id(note.get("id")),
                is_bot_echo=context.is_own(user_id=sender_id, app_id=as_id(app.get("id"))),
            ),
        )


NORMALISER: Final = GitHubNormaliser()
