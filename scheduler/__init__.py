"""Scheduler: the pipeline's stages and what runs them.

In-process (the default, ``scale.mode: in_process``), APScheduler runs every stage in one process
(``scheduler.runner``). Scaled out (``scale.mode: nats``), ``earshot run --role scheduler``
publishes collect orders to NATS JetStream (``scheduler.dispatcher``) and any number of
``--role worker`` processes run the same stage functions (``scheduler.stages``) on the messages
(``scheduler.worker``), sharing their state in PostgreSQL.
"""
