"""Loa archiver: records livestreams (RTMP push, HLS pull) in stored segments and announces each archive."""
