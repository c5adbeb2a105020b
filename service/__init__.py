"""replyguard's HTTP service for real-time agent assist (``replyguard serve``).

The app is built by :func:`service.app.create_app`; the batch library lives in ``replyguard``.
"""
