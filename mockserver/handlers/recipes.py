"""deviceRecipe(s).*: device templates and bulk creation."""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles


@handles("deviceRecipes.get")
def list_recipes(call: Call):
    return call.backend.recipes.list(call.who, call["applicationId"], call.params)


@handles("deviceRecipes.post")
def create(call: Call):
    return call.backend.recipes.create(call.who, call["applicationId"], call.body)


@handles("deviceRecipe.get")
def get(call: Call):
    return call.backend.recipes.get(
        call.who, call["applicationId"], call["deviceRecipeId"], call.params
    )


@handles("deviceRecipe.patch")
def patch(call: Call):
    return call.backend.recipes.patch(
        call.who, call["applicationId"], call["deviceRecipeId"], call.body, call.params
    )


@handles("deviceRecipe.delete")
def delete(call: Call):
    return call.backend.recipes.delete(call.who, call["applicationId"], call["deviceRecipeId"])


@handles("deviceRecipe.bulkCreate")
def bulk_create(call: Call):
    return call.backend.recipes.bulk_create(
        call.who, call["applicationId"], call["deviceRecipeId"], call.body
    )
