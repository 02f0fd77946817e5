"""The `apprise` channel (optional extra: `pip install 'atlas-ha[apprise]'`): the ~100
services Apprise knows (chat, SMS, push), by URL. The URLs hold secrets, so they are read
from a file that is not synced. Without the library the channel is disabled (a message naming
the extra) and the other channels work:

    [channels.chat]
    type = "apprise"
    urls_file = "/etc/atlas-ha/apprise-urls"   # one Apprise URL per line, '#' comments
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from atlas_ha.errors import ChannelError, PluginError
from atlas_ha.report.alerts.channels.base import Channel
from atlas_ha.report.alerts.model import Notification


class AppriseChannel(Channel):
    def __init__(self, name: str, options: dict[str, Any], source: Path) -> None:
        super().__init__(name, options, source)
        if importlib.util.find_spec("apprise") is None:  # the optional extra is missing
            raise PluginError(
                f"channel {name}: type apprise needs the Apprise library, not installed "
                "(the extra: pip install 'atlas-ha[apprise]')"
            )
        self.known({"urls_file"})
        self.urls_file = Path(self.text("urls_file"))

    def send(self, notification: Notification) -> str:
        try:
            lines = self.urls_file.read_text().splitlines()
        except OSError as exc:
            raise ChannelError(
                f"{self.name}: cannot read urls_file {self.urls_file}: {exc}"
            ) from exc
        urls = [u.strip() for u in lines if u.strip() and not u.lstrip().startswith("#")]
        notifier: Any = importlib.import_module("apprise").Apprise()
        for url in urls:
            if not notifier.add(url):
                raise ChannelError(
                    f"{self.name}: {self.urls_file}: not an Apprise URL: {url[:20]}..."
                )
        if not urls:
            raise ChannelError(f"{self.name}: {self.urls_file} names no URL")
        if not notifier.notify(title=notification.title(), body=notification.body()):
            raise ChannelError(f"{self.name}: Apprise could not notify every URL")
        return f"notified {len(urls)} Apprise URL(s)"
