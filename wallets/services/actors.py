"""Who made a change: recorded on every ledger entry."""

from dataclasses import dataclass

from wallets.models import LedgerEntry


@dataclass(frozen=True, slots=True)
class Actor:
    type: str
    id: str

    @classmethod
    def api_key(cls, key_id: str) -> "Actor":
        return cls(LedgerEntry.ActorType.API_KEY, key_id)

    @classmethod
    def user(cls, user_id: int | str) -> "Actor":
        return cls(LedgerEntry.ActorType.USER, str(user_id))

    @classmethod
    def command(cls, name: str) -> "Actor":
        return cls(LedgerEntry.ActorType.COMMAND, name)
