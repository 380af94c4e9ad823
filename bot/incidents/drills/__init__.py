"""Drills: scripted exercises, their scores, schedules and readiness over time."""
