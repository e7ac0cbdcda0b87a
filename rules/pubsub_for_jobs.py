from typing import List, Optional

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import RedisCall
from redislint.semantic.context.pubsub import (
    FAMILY, PUBLISHES, channel_pattern, same_channel, work_channels,
)

_HEAD = "import json\nimport redis\nr = redis.Redis()\n"
_WORKER = ('def worker():\n    p = r.pubsub()\n    p.subscribe("{channel}")\n'
           '    for message in p.listen():\n        if message["type"] == "message":\n'
           '            process(json.loads(message["data"]))\n')


class PubsubForJobs(Rule):
    """
    ## What it does
    Flags `publish(channel, ...)` when the project hands out work over that channel: some
    module subscribes to it (`p.subscribe(ch)` / `psubscribe` on an object from `.pubsub()`)
    and processes each message (a `listen()` loop or a `get_message()` loop that passes the
    message to a call that is not printing or logging, or a handler given to `subscribe`).

    Pub/sub is the right tool for news, so the channel's *name* decides what is work: it must
    contain a work word (job, task, work, worker, queue, todo, singular or plural; snake_case
    and camelCase split, the name of a constant holding it counts) and no news word (status, progress, event, update,
    notification, result, invalidate, cache, heartbeat, control, cancel, done, ...). `jobs`,
    `email_tasks`, `work:{queue}` are work; `job_progress:{id}`, `task-events`,
    `cache-invalidation` are news. The subscriber may live in another module of the project;
    a channel held in a name no module can resolve matches only a publish spelt the same way.

    ## Why is this bad?
    PUBLISH delivers to the subscribers connected at that instant and forgets the message. A job
    published while the worker restarts, deploys, reconnects or is slow enough for Redis to drop
    its connection (`client-output-buffer-limit pubsub`) is lost without a trace, and with two
    workers every job runs twice. `publish` returns how many subscribers received the message,
    and that is all the producer ever learns.

    ## Example
    ```python
    def enqueue(job: dict) -> None:
        r.publish("jobs", json.dumps(job))

    def worker() -> None:
        p = r.pubsub()
        p.subscribe("jobs")
        for message in p.listen():
            if message["type"] == "message":
                process(json.loads(message["data"]))
    ```

    ## Use instead:
    A reliable queue: each job is delivered to one worker and stays in Redis until it is
    acknowledged (`redislint patterns queues`, ReliableQueue: LMOVE to a processing list, LREM
    on success, a reaper for stale deliveries), or a stream with a consumer group
    (`XADD` / `XREADGROUP` / `XACK`, `redislint patterns streams`).

    ## Fix safety
    No automatic fix: a queue needs acknowledgements and recovery on the consumer side.
    """

    code = "RL606"
    name = "pubsub-for-jobs"
    message = ("`{command}` hands out work on `{channel}`, which a SUBSCRIBE loop processes: a "
               "message published while no worker is listening is lost, and every subscriber "
               "runs it; use a reliable queue or a stream (see `redislint patterns queues`)")
    pattern = "queues"

    VALID = [
        # news about a job, not the job: progress and completion notices
        Valid(_HEAD + 'def report(jid, pct):\n    r.publish(f"job_progress:{jid}", pct)\n'
              + _WORKER.format(channel="job_progress:1")),
        # cache invalidation broadcast
        Valid(_HEAD + 'def save(uid):\n    r.publish("cache-invalidation", uid)\n'
              + _WORKER.format(channel="cache-invalidation")),
        # a work-named channel nobody processes: the subscriber only prints
        Valid(_HEAD + 'def enqueue(job):\n    r.publish("jobs", job)\n'
              'def tail():\n    p = r.pubsub()\n    p.subscribe("jobs")\n'
              '    for m in p.listen():\n        print(m)\n'),
        # the worker consumes another channel
        Valid(_HEAD + 'def enqueue(job):\n    r.publish("jobs:email", job)\n'
              + _WORKER.format(channel="jobs:sms")),
        # a reliable queue for the work, pub/sub only for the wake-up news
        Valid(_HEAD + 'def enqueue(job):\n    r.lpush("jobs", job)\n'
              '    r.publish("jobs:notify", 1)\n' + _WORKER.format(channel="jobs:notify")),
        # not a PubSub object
        Valid(_HEAD + 'def enqueue(bus, job):\n    bus.publish("jobs", job)\n'
              'def worker(bus):\n    bus.subscribe("jobs")\n    for m in bus.listen():\n'
              '        process(m)\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'def enqueue(job):\n    r.publish("jobs", json.dumps(job))\n'
                + _WORKER.format(channel="jobs")),
        # self.r from __init__, a psubscribe pattern, get_message in a while loop
        Invalid('import redis\nclass Tasks:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n        self.ps = self.r.pubsub()\n'
                '    def submit(self, queue, payload):\n'
                '        self.r.publish(f"tasks:{queue}", payload)\n'
                '    def run(self):\n        self.ps.psubscribe("tasks:*")\n        while True:\n'
                '            m = self.ps.get_message(timeout=1)\n            if m:\n'
                '                self.handle(m["data"])\n    def handle(self, data):\n'
                '        pass\n'),
        # an annotated async client, a handler subscription, a module constant
        Invalid('import redis.asyncio as aioredis\nWORK_CHANNEL = "render-work"\n'
                'async def submit(r: aioredis.Redis, spec):\n'
                '    await r.publish(WORK_CHANNEL, spec)\n'
                'async def serve(r: aioredis.Redis, render):\n'
                '    async with r.pubsub() as p:\n'
                '        await p.subscribe(**{WORK_CHANNEL: render})\n        await p.run()\n'),
        # an aliased client; a pipeline publish; the loop's message passed on after json.loads
        Invalid('from redis import StrictRedis as SR\nimport json\nr = SR()\n'
                'def enqueue_all(jobs):\n    with r.pipeline() as pipe:\n'
                '        for job in jobs:\n            pipe.publish("jobqueue", json.dumps(job))\n'
                '        pipe.execute()\n'
                'def worker(handle):\n    sub = r.pubsub(ignore_subscribe_messages=True)\n'
                '    sub.subscribe("jobqueue")\n    for m in sub.listen():\n'
                '        job = json.loads(m["data"])\n        handle(job)\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._known: Optional[List[str]] = None

    @property
    def _channels(self) -> List[str]:
        """Work channels of this module and the project, looked up at the first publish only:
        the module scan walks the whole tree, and most modules never publish."""
        if self._known is None:
            self._known = list(work_channels(self.model.module, self.model.facts).get(FAMILY, ()))
            index = self.model.inferer.index
            if index is not None and hasattr(index, "key_uses"):
                self._known.extend(index.key_uses(FAMILY))
        return self._known

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command not in PUBLISHES or not self._channels:
            return
        if call.receiver.role not in ("client", "pipeline"):
            return
        channel = channel_pattern(self.model.key(call.arg(0, "channel")))
        if channel is None:
            return
        if any(same_channel(channel, subscribed) for subscribed in self._channels):
            shown = channel[1:] if channel.startswith("=") else channel
            self.report(call.node, self.message.format(command=call.command, channel=shown))
