"""Help in the usual command-line conventions: ``vidcurate frames extract [OPTIONS] VIDEOS...``,
flags shown without a type, arguments in capitals (typer renders ``{videos}`` and ``<bool>``).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Argument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return (self.metavar or self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says what it is; its help says the rest


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None if self.is_flag else super().display_type_rich(ctx)


def _conventional(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _conventional(super().get_params(ctx))


class ConventionalGroup(TyperGroup):
    """The root command and its sub-groups: each command's parameters (the help option and
    completion ones too) are relabelled as it is looked up."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _conventional(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if type(command) is TyperCommand:
            command.__class__ = _Command
        elif type(command) is TyperGroup:
            command.__class__ = ConventionalGroup
        return command
