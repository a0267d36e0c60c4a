"""Devices for the roofline: DeviceSpec and device files, the presets with their sources, the roofline model,
and calibration of this machine."""
