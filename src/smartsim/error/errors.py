"""The exception hierarchy. Every error we raise derives from :class:`SmartSimError`;
where a builtin fits, the error derives from it too, so ``except ValueError`` keeps working."""


class SmartSimError(Exception):
    """Base SmartSim error"""


class SSUnsupportedError(SmartSimError):
    """A requested feature or option is not supported"""


class SSInternalError(SmartSimError):
    """An internal error"""


class SSConfigError(SSInternalError):
    """An error in the configuration of SmartSim"""


class LauncherError(SSInternalError):
    """An error in the launcher"""


class LauncherUnsupportedFeature(LauncherError):
    """The launcher does not support a given method"""


class AllocationError(LauncherError):
    """A problem with the user WLM allocation"""


class ShellError(LauncherError):
    """A shell command run by a launcher failed"""


class EntityExistsError(SmartSimError):
    """An entity or its files/directories already exist"""


class UserStrategyError(SmartSimError):
    """A permutation strategy produced something other than a list of dicts"""

    def __init__(self, perm_strat, detail: str = "") -> None:
        name = getattr(perm_strat, "__name__", perm_strat)
        message = (
            f"User provided ensemble generation strategy, {name}, failed to generate "
            "valid parameter names and values"
        )
        if detail:
            message += f": {detail}"
        super().__init__(message)


class ParameterWriterError(SmartSimError):
    """Input parameter files for a model could not be read, configured or written"""

    def __init__(self, file_path, read: bool = True, detail: str = "") -> None:
        verb = "read" if read else "write"
        message = f"Failed to configure parameter file: could not {verb} {file_path}"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class SSReservedKeywordError(SmartSimError):
    """A reserved keyword was used incorrectly"""


class SSDBIDConflictError(SmartSimError):
    """A database identifier is already in use"""


class SSDBFilesNotParseable(SmartSimError):
    """The files describing a database could not be parsed"""


class SSNoDatabaseError(SmartSimError):
    """Entities with ML models or scripts to load were started and no database is running
    to load them into"""


class PreviewFormatError(SSUnsupportedError):
    """The output format of preview is not supported"""


# Errors that also carry a builtin meaning, so generic handlers catch them.
class ParameterError(SmartSimError, ValueError):
    """A parameter value or parameter list is not valid"""


class ParameterTypeError(SmartSimError, TypeError):
    """A parameter name or value has the wrong type"""


class StrategyError(UserStrategyError, ValueError):
    """A built-in expansion strategy cannot expand the given parameters"""

    def __init__(self, message: str) -> None:
        SmartSimError.__init__(self, message)


class EntityTypeError(SmartSimError, TypeError):
    """An object of the wrong type was given where an entity was expected"""


class EntityNameError(SmartSimError, ValueError):
    """A name that becomes a directory (entity, database, experiment) is not a safe name"""


class GenerationError(SmartSimError, ValueError):
    """Generation cannot proceed (bad template, missing file, name collision)"""


class GeneratorFileNotFoundError(SmartSimError, FileNotFoundError):
    """A file attached for generation does not exist"""


class GeneratorFileExistsError(SmartSimError, FileExistsError):
    """A generated directory already exists and overwrite was not requested"""


class ExecutableNotFoundError(SSConfigError, FileNotFoundError):
    """An executable could not be located"""


class NotExecutableError(SSConfigError, TypeError):
    """A file exists but is not executable"""


class UnsupportedValueError(SSUnsupportedError, ValueError):
    """An option value is not one of the supported choices"""


# Launch and control (local launcher, job manager)
class UnknownEntityError(SmartSimError, ValueError):
    """An entity was passed to an experiment that neither created, generated nor launched it"""


class EntityNotLaunchedError(SmartSimError, ValueError):
    """An operation needs an entity that was launched, and it never was"""


class EntityRunningError(SmartSimError, RuntimeError):
    """An entity was started again while its previous run is still queued or running"""
