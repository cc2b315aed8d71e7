"""pcml.experiments"""

from .config import config_hash, from_dict, load_config, parse_overrides, to_dict, to_toml
from .report import build_report, format_number, metric_tables, write_markdown_table
from .rundir import RunDir, command_line, write_json_atomic, write_text_atomic

__all__ = [
    "RunDir",
    "build_report",
    "command_line",
    "config_hash",
    "format_number",
    "from_dict",
    "load_config",
    "metric_tables",
    "parse_overrides",
    "to_dict",
    "to_toml",
    "write_json_atomic",
    "write_markdown_table",
    "write_text_atomic",
]
