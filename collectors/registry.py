"""The collector registry: kind name -> Collector class."""

from __future__ import annotations

from collectors.base import Collector
from domain.plugins import Registry

# Built-ins use the same 'module:Class' specs a plugin's entry point would.
BUILTIN_COLLECTORS = {
    "demo": "collectors.demo:DemoCollector",
    "rss": "collectors.rss:RssCollector",
    "twitter": "collectors.twitter:TwitterCollector",
    "reddit": "collectors.reddit:RedditCollector",
    "hackernews": "collectors.hackernews:HackerNewsCollector",
    "bluesky": "collectors.bluesky:BlueskyCollector",
    "bluesky-jetstream": "collectors.bluesky_jetstream:JetstreamCollector",
    "mastodon": "collectors.mastodon:MastodonCollector",
}

collectors: Registry[type[Collector]] = Registry(  # type: ignore[type-arg]
    "source", "earshot.collectors", BUILTIN_COLLECTORS
)
