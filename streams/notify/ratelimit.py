"""Per-channel rate limits as arithmetic over send times: pure, the clock is a parameter.

The platforms count messages per sliding window (DingTalk and WeCom robots: 20 a minute;
Feishu bots: 100 a minute and 5 a second). ``Limiter.room`` says how many may go now;
when a burst is larger than the room, the caller folds the surplus into one digest.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: (messages, seconds) windows per platform, from each platform's documentation.
PLATFORM_LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "dingtalk": ((20, 60.0),),
    "wecom": ((20, 60.0),),
    "feishu": ((100, 60.0), (5, 1.0)),
    "slack": ((60, 60.0),),  # Slack: about one a second per webhook, short bursts allowed
    "webhook": (),
    "email": (),
}


@dataclass
class Limiter:
    windows: tuple[tuple[int, float], ...]
    sent: deque[float] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        longest = max((s for _, s in self.windows), default=0.0)
        while self.sent and self.sent[0] <= now - longest:
            self.sent.popleft()

    def room(self, now: float) -> int:
        """Messages that may be sent at ``now`` without breaking any window."""
        self._trim(now)
        if not self.windows:
            return 1_000_000
        free = []
        for limit, seconds in self.windows:
            used = sum(1 for t in self.sent if t > now - seconds)
            free.append(max(0, limit - used))
        return min(free)

    def wait(self, now: float) -> float:
        """Seconds until one more message may go (0 when it may go now)."""
        if self.room(now) > 0:
            return 0.0
        waits = []
        for limit, seconds in self.windows:
            inside = [t for t in self.sent if t > now - seconds]
            if len(inside) >= limit:
                waits.append(inside[len(inside) - limit] + seconds - now)
        return max(0.0, max(waits, default=0.0))

    def record(self, now: float) -> None:
        self.sent.append(now)


def limiter(platform: str, per_minute: int | None = None) -> Limiter:
    windows = PLATFORM_LIMITS.get(platform, ())
    if per_minute is not None:
        windows = ((per_minute, 60.0), *((n, s) for n, s in windows if s < 60.0))
    return Limiter(tuple(windows))


def split(pending: int, room: int) -> tuple[int, bool]:
    """How many of ``pending`` go one by one, and whether the rest go as one digest.

    Within the room everything goes alone; over it, ``room - 1`` go alone and the last slot
    carries a digest of the rest (at least one slot must be free: callers wait for it).
    """
    if pending <= room:
        return pending, False
    return max(0, room - 1), True
