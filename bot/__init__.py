"""The pure core of Lindungi: conversation engine, flows, validators, texts.

Nothing in this package does I/O or imports telegram, twilio or sqlmodel; the channel
adapters in ``handlers/`` and the store in ``models/`` stand around it.
"""
