"""The caller a door sets is the one the code below it sees, and only inside the call."""

import asyncio

from nanococoa_mcp.tenancy import LOCAL, Caller, acting_as, current_caller


def test_without_a_door_the_caller_is_the_local_tenant_that_may_name_paths() -> None:
    assert current_caller() == LOCAL
    assert current_caller().tenant == "local" and not current_caller().remote


def test_a_caller_set_by_a_door_reaches_tasks_started_inside_and_ends_with_the_call() -> None:
    async def main() -> tuple[Caller, Caller, Caller]:
        async def inner() -> Caller:
            await asyncio.sleep(0)
            return current_caller()

        with acting_as(Caller("shop-a", remote=True)):
            seen = await asyncio.create_task(inner())
            with acting_as(Caller("shop-b", remote=True)):
                nested = current_caller()
        return seen, nested, current_caller()

    seen, nested, after = asyncio.run(main())
    assert seen == Caller("shop-a", remote=True)
    assert nested.tenant == "shop-b"
    assert after == LOCAL
