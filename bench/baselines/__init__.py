"""Baselines for bench/ws_load.py: the stock Channels tutorial chat and a bare websockets server."""
