"""Source strings cited by the catalog's records.

The seed notes are the teaching notes jaxmc grew from. Matrix Cookbook equation
numbers refer to the 15 November 2012 edition; where only a section is given the
numbering differs between editions. Magnus & Neudecker refers to the 3rd edition
(Wiley, 2019).
"""

SEED_CH48 = "seed notes: Matrix Calculus (CH 48), Common Identities"
SEED_TUTORIAL = "seed notes: Tutorial 04 Matrix Calculus"
SEED_0910 = "seed notes: 09-10 Matrix Calculus"
SEED_FLASH = "seed notes: Matrix Calculus flashcards"


def cookbook(where: str) -> str:
    """Cites The Matrix Cookbook at a section or equation."""
    return f"Matrix Cookbook {where}"


def eq(number: int, section: str, what: str = "") -> str:
    """Cites The Matrix Cookbook at an equation, with its section (2012 edition)."""
    tail = f", {what}" if what else ""
    return f"Matrix Cookbook eq. {number} (§{section}{tail})"


def mn(where: str) -> str:
    """Cites Magnus & Neudecker at a chapter or section."""
    return f"Magnus & Neudecker {where}"
